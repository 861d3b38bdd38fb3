"""Every estimator on every model: finite, non-zero gradients for every variable,
finite values on extreme inputs, clear errors for unsupported models.

The model x estimator x K product is sampled in the fast tier (every estimator
meets two models and every model two estimators); TFP_ZOO_FULL_PRODUCT=1 runs
all of it in the slow tier."""

import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, testing
from tfp_zoo.estimators.base import objectives_and_gradients

tfd = tfp.distributions


def _off_identity(model):
  """Moves every flow off its zero-initialised output, where the MADE's hidden
  layer has no gradient yet (it gets one after the first step)."""
  flows = list(getattr(model, "guide_flows", ())) + [
      getattr(getattr(model, "prior", None), "flow", None)]
  for flow in filter(None, flows):
    for made in flow.layers:
      made.output_kernel.assign(tf.fill(made.output_kernel.shape, 0.05))
  return model


MODELS = {
    "vae_bernoulli": lambda: models.get("vae", input_shape=(6, 6, 1)),
    "vae2_bernoulli": lambda: models.get("vae", input_shape=(6, 6, 1), stochastic_layers=2),
    "vae_gaussian": lambda: models.get("vae", input_shape=(6, 6, 1), likelihood="gaussian"),
    "vae2_gaussian": lambda: models.get("vae", input_shape=(6, 6, 1), stochastic_layers=2,
                                        likelihood="gaussian"),
    "vae_mixture_prior": lambda: models.get("vae", input_shape=(6, 6, 1), prior="mixture",
                                            prior_components=3),
    "vae_vampprior": lambda: models.get("vae", input_shape=(6, 6, 1), prior="vampprior",
                                        prior_components=3),
    "vae_iaf_flow_prior": lambda: _off_identity(models.get(
        "vae", input_shape=(6, 6, 1), latent_sizes=(3,), guide="iaf", prior="flow")),
    "vae_full_covariance": lambda: models.get("vae", input_shape=(6, 6, 1), latent_sizes=(4,),
                                              guide="full_covariance"),
    "vae_conv": lambda: models.get("vae", input_shape=(6, 6, 1), architecture="conv",
                                   conv_channels=(2, 3), latent_sizes=(2,)),
    "vae_discretized_logistic_mixture": lambda: models.get(
        "vae", input_shape=(6, 6, 1), likelihood="discretized_logistic_mixture",
        latent_sizes=(2,), hidden_sizes=(8,)),
    "linear_gaussian": lambda: models.get("linear_gaussian", input_shape=(6, 6, 1)),
    "matrix_factorisation": lambda: models.get("matrix_factorisation", input_shape=(6, 6, 1),
                                               latent_size=5, prior="exponential"),
    "hyperspherical_vae": lambda: models.get("hyperspherical_vae", input_shape=(6, 6, 1),
                                             hidden_sizes=(16,)),
    "hyperspherical_vae_conv": lambda: models.get("hyperspherical_vae", input_shape=(6, 6, 1),
                                                  architecture="conv", conv_channels=2),
}
# Which estimators train which latents: read from their specs.
REPARAMETERIZED_ONLY = tuple(n for n in estimators.names()
                             if not estimators.get_spec(n).supports("discrete"))
ANY_LATENTS = tuple(n for n in estimators.names() if estimators.get_spec(n).supports("discrete"))
# Refusals that depend on a model's structure, not its latent kind: β-TC-VAE
# needs one latent part whose guide is a product over dimensions.
STRUCTURE_REFUSED = {
    **{(m, "beta_tc_vae"): "beta_tc_vae needs per-dimension marginals"
       for m in ("vae_iaf_flow_prior", "vae_full_covariance", "linear_gaussian")},
    **{(m, "beta_tc_vae"): "beta_tc_vae needs a model with one latent part"
       for m in ("vae2_bernoulli", "vae2_gaussian")}}
# What the Python API says when the spec's latent kinds exclude a model.
KIND_REFUSED = {("hyperspherical_vae", "hmc"): "hmc: latent 'z' of HypersphericalVAE is not a real",
                ("hyperspherical_vae_conv", "hmc"): "hmc: latent 'z' of HypersphericalVAE is not",
                ("hyperspherical_vae", "beta_tc_vae"): "beta_tc_vae needs per-dimension marginals",
                ("hyperspherical_vae_conv", "beta_tc_vae"): "per-dimension marginals"}
REFUSED = {**STRUCTURE_REFUSED, **KIND_REFUSED}
DISCRETE_MODELS = {
    "discrete_vae_bernoulli": lambda: models.get("discrete_vae", input_shape=(6, 6, 1),
                                                 num_latents=8),
    "discrete_vae_categorical": lambda: models.get(
        "discrete_vae", input_shape=(6, 6, 1), latent="categorical", num_latents=3,
        likelihood="gaussian"),
    "discrete_vae_conv": lambda: models.get("discrete_vae", input_shape=(6, 6, 1),
                                            num_latents=4, architecture="conv",
                                            conv_channels=2),
    "sigmoid_belief_net": lambda: models.get("sigmoid_belief_net", input_shape=(6, 6, 1),
                                             layer_sizes=(3, 5)),
    "gaussian_mixture": lambda: models.get("gaussian_mixture", input_shape=(6, 6, 1),
                                           num_components=4),
}
# Conv variants of a model above: K=5 is enough for them (what they add is the net).
K5_ONLY = ("vae_conv", "hyperspherical_vae_conv")
MIN_K = {"vimco": 2}
ALL_MODELS = {**MODELS, **DISCRETE_MODELS}


def _kind(model):
  """The registered latent kind of a test model (its key starts with the name)."""
  name = max((n for n in models.names() if model.startswith(n)), key=len)
  return models.get_spec(name).latents


def _supported(model, estimator):
  return (estimators.get_spec(estimator).supports(_kind(model))
          and (model, estimator) not in STRUCTURE_REFUSED)


# The model x estimator x K product. The fast tier runs a fixed sample in which
# every estimator meets at least two models and every model two estimators;
# TFP_ZOO_FULL_PRODUCT=1 (the slow tier) runs the rest.
PRODUCT = [dict(model=m, estimator=e, k=max(k, MIN_K.get(e, 1)))
           for m in ALL_MODELS for e in estimators.names() for k in (1, 5)
           if _supported(m, e) and not (k == 1 and m in K5_ONLY)]
CASES = testing.sample_product(
    PRODUCT, meets=(("estimator", "model", 2), ("model", "estimator", 2)),
    name=lambda c: f"{c['model']}_{c['estimator']}_k{c['k']}")


class DuckTypedModel(tf.Module):
  """A model from outside the package: honours the contract without the base class."""

  def __init__(self):
    super().__init__()
    self.loc = tf.Variable([0.5, -0.5])
    self.guide_loc = tf.Variable([0.1, 0.2])

  def joint(self):
    def model():
      z = yield tfd.JointDistributionCoroutine.Root(
          tfd.Independent(tfd.Normal(tf.zeros([2]), 1.0), 1, name="z"))
      yield tfd.Independent(tfd.Normal(z + self.loc, 1.0), 1, name="x")
    return tfd.JointDistributionCoroutine(model)

  def guide(self, x):
    def model():
      yield tfd.JointDistributionCoroutine.Root(
          tfd.Independent(tfd.Normal(x / 2 + self.guide_loc, 0.8), 1, name="z"))
    return tfd.JointDistributionCoroutine(model)

  @property
  def generative_variables(self):
    return (self.loc,)

  @property
  def guide_variables(self):
    return (self.guide_loc,)


class BinaryLatentModel(DuckTypedModel):
  """Bernoulli latents: not reparameterisable."""

  def guide(self, x):
    def model():
      yield tfd.JointDistributionCoroutine.Root(tfd.Independent(
          tfd.Bernoulli(logits=x + self.guide_loc, dtype=tf.float32), 1, name="z"))
    return tfd.JointDistributionCoroutine(model)


def _dataset_size(estimator):
  """beta_tc_vae's N (the training loop fills it in; here it is an argument)."""
  return {"dataset_size": 100} if estimators.accepts(estimator, "dataset_size") else {}


def _options(model, estimator, k, **options):
  options.update(_dataset_size(estimator))
  if estimators.accepts(estimator, "num_samples"):
    options["num_samples"] = k
  else:  # alws: small regressions keep the cross-product quick
    options.update(num_sleep_samples=8 * k, num_features=16)
  state = estimators.make_state(estimator, model, **options)
  if state is not None:
    options["state"] = state
  return options


def _gradients(model, estimator, x, k, **options):
  return testing.estimator_gradients(estimators.get(estimator), model, x,
                                     seed=tf.constant([1, 2]), **_options(model, estimator,
                                                                          k, **options))


def _compiled_gradients(model, estimator, k):
  """x -> (objectives, ∇θ, ∇φ) in one `tf.function`, by the training step's
  gradient path (φ includes the estimator state's trainable variables)."""
  options = _options(model, estimator, k)
  state = options.get("state")
  theta = tuple(model.generative_variables)
  phi = tuple(model.guide_variables) + (tuple(state.trainable_variables) if state else ())
  fn = estimators.get(estimator)

  @tf.function(autograph=False)
  def gradients(x):
    objectives, theta_grads, phi_grads = objectives_and_gradients(
        lambda: fn(model, x, seed=tf.constant([1, 2]), **options), theta, phi)
    dense = lambda grads: [None if g is None else tf.convert_to_tensor(g) for g in grads]
    return objectives, dense(theta_grads), dense(phi_grads)
  gradients.variables = theta + phi
  initial = [v.numpy() for v in state.variables] if state else []
  # Each input starts from the fresh state (HMC's step size, NVIL's baseline
  # and ALWS's counters move at every call).
  gradients.reset = lambda: [v.assign(value) for v, value in zip(
      state.variables if state else (), initial)]
  return gradients


class GradientsTest(tf.test.TestCase, parameterized.TestCase):

  def _check_case(self, model, estimator, k):
    """Finite, non-zero gradients for every variable on random binary images;
    finite gradients on all-black and all-white ones (the same trace)."""
    model = ALL_MODELS[model]()
    gradients = _compiled_gradients(model, estimator, k)
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    objectives, theta_grads, phi_grads = gradients(x)
    self.assertEqual(objectives.generative_loss.shape, ())
    for value in (objectives.generative_loss, objectives.guide_loss,
                  *objectives.metrics.values()):
      self.assertTrue(bool(tf.math.is_finite(value)))
    self.assertEmpty(testing.gradient_problems(model, theta_grads, phi_grads))
    for pixels in (0.0, 1.0):
      gradients.reset()
      _, theta_grads, phi_grads = gradients(tf.fill(x.shape, pixels))
      non_finite = [v.name for v, g in zip(gradients.variables, theta_grads + phi_grads)
                    if g is not None and not bool(tf.reduce_all(tf.math.is_finite(g)))]
      self.assertEmpty(non_finite, f"images all {pixels}")

  @parameterized.named_parameters(*CASES)
  def test_every_variable_gets_a_finite_nonzero_gradient(self, model, estimator, k):
    self._check_case(model, estimator, k)

  def test_the_fast_sample_meets_every_estimator_and_model_twice(self):
    fast = testing.sampled(CASES)
    models_of = {e: {c["model"] for c in fast if c["estimator"] == e}
                 for e in estimators.names()}
    estimators_of = {m: {c["estimator"] for c in fast if c["model"] == m} for m in ALL_MODELS}
    self.assertEqual({e: ms for e, ms in models_of.items() if len(ms) < 2}, {})
    self.assertEqual({m: es for m, es in estimators_of.items() if len(es) < 2}, {})
    self.assertLess(len(fast), len(PRODUCT) / 5)
    # TFP_ZOO_FULL_PRODUCT=1 (the slow tier) adds every other case of the product.
    cases = [(c["model"], c["estimator"], c["k"]) for c in CASES]
    self.assertCountEqual(cases, [(c["model"], c["estimator"], c["k"])
                                  for c in (PRODUCT if testing.full_product() else fast)])

  @parameterized.parameters(*REFUSED)
  def test_latents_an_estimator_cannot_move_are_refused_clearly(self, model, estimator):
    with self.assertRaisesRegex(ValueError, REFUSED[(model, estimator)]):
      _gradients(MODELS[model](), estimator, tf.zeros([2, 6, 6, 1]), 2)

  def test_saturated_logits_stay_finite(self):
    model = models.get("vae", input_shape=(6, 6, 1))
    model.decoders[0].layers[-1].bias.assign(tf.fill([36], 80.0))
    x = tf.zeros([2, 6, 6, 1])  # every pixel disagrees with a logit of +80
    objectives, theta_grads, _ = _gradients(model, "iwae", x, 5)
    self.assertTrue(bool(tf.math.is_finite(objectives.generative_loss)))
    self.assertGreater(float(objectives.generative_loss), 36 * 70.0)
    for g in theta_grads:
      self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(g))))

  def test_k5000_log_likelihood_is_finite(self):
    model = models.get("vae", input_shape=(6, 6, 1))
    x = tf.ones([2, 6, 6, 1])
    result = evaluation.log_likelihood(model, x, seed=tf.constant([0, 1]),
                                       num_samples=5000, chunk_size=1000)
    self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(result.log_likelihood))))
    self.assertAllInRange(result.ess, 1.0, 5000.0)

  @parameterized.parameters(*estimators.names())
  def test_models_from_outside_the_package(self, estimator):
    model = DuckTypedModel()
    x = tf.constant([[0.3, -1.0], [2.0, 0.1]])
    _, theta_grads, phi_grads = _gradients(model, estimator, x, 3)
    self.assertGreater(float(tf.reduce_max(tf.abs(theta_grads[0]))), 0.0)
    self.assertGreater(float(tf.reduce_max(tf.abs(phi_grads[0]))), 0.0)
    objectives = estimators.elbo(model, x, seed=tf.constant([0, 0]), analytic_kl=True)
    self.assertTrue(bool(tf.math.is_finite(objectives.generative_loss)))

  @parameterized.parameters(*REPARAMETERIZED_ONLY)
  def test_discrete_latents_are_refused_clearly(self, estimator):
    with self.assertRaisesRegex(ValueError, "not reparameterisable"):
      estimators.get(estimator)(BinaryLatentModel(), tf.zeros([2, 2]),
                                seed=tf.constant([0, 0]), num_samples=2,
                                **_dataset_size(estimator))

  @parameterized.parameters(*ANY_LATENTS)
  def test_discrete_latents_train_with_score_and_wake_sleep_estimators(self, estimator):
    model = BinaryLatentModel()
    x = tf.constant([[0.3, -1.0], [2.0, 0.1]])
    _, theta_grads, phi_grads = _gradients(model, estimator, x, 3)
    self.assertEmpty(testing.gradient_problems(model, theta_grads, phi_grads))

  @parameterized.product(model=list(DISCRETE_MODELS), estimator=list(REPARAMETERIZED_ONLY))
  def test_discrete_models_are_refused_by_reparameterised_estimators(self, model, estimator):
    with self.assertRaisesRegex(ValueError, "not reparameterisable"):
      estimators.get(estimator)(DISCRETE_MODELS[model](), tf.zeros([2, 6, 6, 1]),
                                seed=tf.constant([0, 0]), num_samples=2,
                                **_dataset_size(estimator))

  @parameterized.parameters("learned", "moving_average", "none")
  def test_nvil_baselines_get_gradients(self, baseline):
    model = DISCRETE_MODELS["sigmoid_belief_net"]()
    state = estimators.make_state("nvil", model, baseline=baseline)
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    for bound in ("elbo", "iwae"):
      with tf.GradientTape() as tape:
        loss = estimators.nvil(model, x, seed=tf.constant([1, 2]), num_samples=3,
                               bound=bound, baseline=baseline, state=state).guide_loss
      if state is not None and state.trainable_variables:
        grads = tape.gradient(loss, state.trainable_variables)
        self.assertTrue(all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads))

  def test_the_specs_latent_kinds_are_what_the_functions_refuse(self):
    """Every pair the specs exclude is refused by the function too, and the
    refusal list holds exactly the excluded non-discrete pairs."""
    excluded = [(m, e) for m in ALL_MODELS for e in estimators.names()
                if not estimators.get_spec(e).supports(_kind(m))]
    self.assertCountEqual([p for p in excluded if p[0] in MODELS], KIND_REFUSED)
    for model_key in ("sigmoid_belief_net", "hyperspherical_vae"):
      model = ALL_MODELS[model_key]()
      for estimator in [e for m, e in excluded if m == model_key]:
        with self.assertRaises(ValueError, msg=estimator):
          _gradients(model, estimator, tf.zeros([2, 6, 6, 1]), 2)

  def test_models_without_a_guide_are_refused_clearly(self):
    class NoGuide(DuckTypedModel):
      guide_variables = ()
    with self.assertRaisesRegex(ValueError, "needs a guide"):
      estimators.iwae(NoGuide(), tf.zeros([2, 2]), seed=tf.constant([0, 0]))

  def test_registry(self):
    self.assertIs(estimators.get("iwae"), estimators.iwae)
    with self.assertRaisesRegex(ValueError, "unknown estimator 'reinforce'; known: alws, beta_tc_vae, ciwae, dreg"):
      estimators.get("reinforce")
    with self.assertRaisesRegex(ValueError, "does not take analytic_kl"):
      estimators.check_options("iwae", {"analytic_kl": True})


if __name__ == "__main__":
  tf.test.main()
