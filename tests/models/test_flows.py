"""Autoregressive flows: MADE's masks, and IAF/MAF densities against the change
of variables computed from an explicit Jacobian; the VAE's flow prior and IAF
guide use them."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import models
from tfp_zoo.models import flows

tfd = tfp.distributions


def _perturbed_flow(kind, size=3, layers=2, seed=0, context_size=0):
  flow = flows.AutoregressiveFlow(size, kind=kind, num_layers=layers, hidden_size=6,
                                  seed=[seed, 1], context_size=context_size)
  rng = np.random.default_rng(seed)
  for v in flow.trainable_variables:
    v.assign(v + 0.4 * rng.normal(size=v.shape).astype(np.float32))
  return flow


def _output_jacobian(made, u):
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(u)
    shift, log_scale = made(u)
    out = tf.concat([shift, log_scale], 0)
  return tape.jacobian(out, u, experimental_use_pfor=False).numpy()


def _log_density_by_jacobian(bijector, z):
  """log N(f⁻¹(z); 0, I) + log |det ∂f⁻¹/∂z|, Jacobian by autodiff, per point."""
  values = []
  for point in z:
    point = tf.constant(point)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(point)
      eps = bijector.inverse(point)
    jacobian = tape.jacobian(eps, point, experimental_use_pfor=False).numpy()
    values.append(tfd.Normal(0., 1.).log_prob(eps).numpy().sum()
                  + np.linalg.slogdet(jacobian.astype(np.float64))[1])
  return np.array(values)


class FlowsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(0, 3)
  def test_made_output_i_sees_only_inputs_before_i(self, context_size):
    made = _perturbed_flow("iaf", size=4, context_size=context_size).layers[0]
    if context_size:  # the context reaches every output, the masks still hold in u
      context = tf.constant([0.5, -0.2, 1.0])
      call = made
      made = lambda u: call(u, context=context)
    jacobian = _output_jacobian(made, tf.constant([0.3, -1., 0.5, 2.]))
    allowed = np.tril(np.ones([4, 4]), -1)
    self.assertAllEqual(jacobian[:4] * (1 - allowed), np.zeros([4, 4]))  # shift
    self.assertAllEqual(jacobian[4:] * (1 - allowed), np.zeros([4, 4]))  # log-scale
    self.assertGreater(np.abs(jacobian[:4] * allowed).min() + 1e-9, 0.)
    # Power: without the hidden mask, outputs see their own and later inputs.
    layer = made if not context_size else call
    layer._hidden_mask = tf.ones_like(layer._hidden_mask)
    broken = _output_jacobian(made, tf.constant([0.3, -1., 0.5, 2.]))
    self.assertGreater(np.abs(broken[:4] * (1 - allowed)).max(), 1e-3)

  def test_flows_start_at_the_identity(self):
    flow = flows.AutoregressiveFlow(5, kind="iaf", num_layers=2, hidden_size=10, seed=[0, 0])
    eps = tf.random.stateless_normal([7, 5], seed=[1, 1])
    # Two layers, one reversal in between and identity layers: the reversal
    # is undone by none, so the flow is the reversal of its input.
    self.assertAllClose(flow.bijector().forward(eps), tf.reverse(eps, [-1]), atol=1e-6)
    one = flows.AutoregressiveFlow(5, kind="maf", num_layers=1, hidden_size=10, seed=[0, 0])
    self.assertAllClose(one.bijector().forward(eps), eps, atol=1e-6)

  @parameterized.parameters(("iaf", 0), ("maf", 0), ("iaf", 4))
  def test_density_is_the_change_of_variables(self, kind, context_size):
    context = tf.constant([0.3, -1.0, 0.8, 0.1]) if context_size else None
    bijector = _perturbed_flow(kind, context_size=context_size).bijector(context)
    dist = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(3)), bijector)
    z = dist.sample(6, seed=[2, 3]).numpy()
    direct = _log_density_by_jacobian(bijector, z)
    self.assertAllClose(dist.log_prob(tf.identity(z)), direct, atol=2e-3)
    # Power: dropping the log-determinant is caught.
    base = tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(bijector.inverse(z)).numpy()
    self.assertGreater(np.abs(base - direct).max(), 0.1)

  @parameterized.parameters("iaf", "maf")
  def test_inverse_undoes_forward(self, kind):
    bijector = _perturbed_flow(kind, size=6).bijector()
    eps = tf.random.stateless_normal([4, 2, 6], seed=[3, 3])
    self.assertAllClose(bijector.inverse(tf.identity(bijector.forward(eps))), eps, atol=2e-3)

  def test_flow_prior_integrates_to_one_and_learns(self):
    model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(2,),
                       prior="flow", flow_hidden=6, seed=1)
    rng = np.random.default_rng(4)
    for v in model.prior.trainable_variables:  # away from the identity, tails inside the grid
      v.assign(v + 0.2 * rng.normal(size=v.shape).astype(np.float32))
    prior = model.joint().sample_distributions(seed=tf.constant([0, 0]))[0][0]
    grid = np.linspace(-9, 9, 361, dtype=np.float32)
    z1, z2 = np.meshgrid(grid, grid)
    density = np.exp(prior.log_prob(np.stack([z1.ravel(), z2.ravel()], -1)).numpy())
    self.assertNear(density.sum() * (grid[1] - grid[0]) ** 2, 1.0, 1e-3)
    self.assertContainsSubset({v.ref() for v in model.prior.trainable_variables},
                              {v.ref() for v in model.generative_variables})

  def test_the_context_iaf_depends_on_x_at_fixed_base_noise(self):
    x = tf.cast(tf.random.stateless_uniform([2, 6, 6, 1], seed=[5, 5]) < 0.5, tf.float32)
    eps = tf.random.stateless_normal([2, 3], seed=[6, 6])
    outputs = {}
    for context in (True, False):
      model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(3,),
                         guide="iaf", iaf_context=context, seed=4)
      rng = np.random.default_rng(0)
      for v in model.guide_flows[0].trainable_variables:  # away from the identity
        v.assign(v + 0.4 * rng.normal(size=v.shape).astype(np.float32))
      q = [model.guide(x[i:i + 1]).sample_distributions(seed=tf.constant([0, 0]))[0][0]
           for i in range(2)]
      # The same base noise through each example's flow.
      outputs[context] = [d.bijector.forward(eps[:1]).numpy() for d in q]
    self.assertGreater(np.abs(outputs[True][0] - outputs[True][1]).max(), 1e-2)
    # Power: the flow shared across inputs (runs saved before the context) maps
    # the same noise to the same point for every x.
    self.assertAllClose(outputs[False][0], outputs[False][1])

  def test_iaf_context_is_the_default_and_refused_where_it_means_nothing(self):
    model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(3, 2),
                       stochastic_layers=2, guide="iaf")
    self.assertTrue(model.iaf_context)
    self.assertTrue(all(made.context_size for f in model.guide_flows for made in f.layers))
    with self.assertRaisesRegex(ValueError, "iaf_context=True: true or false, and only "
                                "used with guide=iaf"):
      models.get("vae", input_shape=(6, 6, 1), iaf_context=True)
    self.assertFalse(models.get("linear_gaussian", input_shape=(3,), guide="iaf")
                     .guide_flow.context_size)  # unchanged there

  def test_iaf_guide_parameters_are_guide_parameters(self):
    model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(3, 2),
                       stochastic_layers=2, guide="iaf", flow_layers=3)
    flow_variables = {v.ref() for f in model.guide_flows for v in f.trainable_variables}
    self.assertLen(flow_variables, 2 * 3 * 7)  # 5 per MADE, and its context layer's 2
    self.assertContainsSubset(flow_variables, {v.ref() for v in model.guide_variables})
    self.assertEmpty(flow_variables & {v.ref() for v in model.generative_variables})

  def test_refusals_name_the_hparam(self):
    for hparams, message in (
        (dict(guide="flowy"), "guide='flowy': expected one of diagonal, full_covariance, iaf"),
        (dict(flow_layers=2), "flow_layers is only used with guide=iaf or prior=flow"),
        (dict(guide="iaf", flow_hidden=-1), "flow_hidden=-1: expected a positive integer"),
        (dict(prior="flow", prior_components=3), "prior_components is only used with"),
    ):
      with self.assertRaisesRegex(ValueError, message):
        models.get("vae", input_shape=(6, 6, 1), **hparams)
    with self.assertRaisesRegex(ValueError, "flow_layers is only used with guide=iaf"):
      models.get("linear_gaussian", input_shape=(3,), flow_layers=2)
    with self.assertRaisesRegex(ValueError, "cannot equal the full-covariance posterior"):
      models.get("linear_gaussian", input_shape=(3,),
                 guide="diagonal").set_guide_to_exact_posterior()


if __name__ == "__main__":
  tf.test.main()
