"""The run configuration: the one place defaults live; the launcher's flags are
derived from it; `validate()` runs once, before any strategy or data.

Each field's metadata says how it becomes a flag (`help`, bounds, choices) and
how it may change when a run resumes (`resume`):

* `same`: fixes the checkpoint, the data or the numbers drawn; a resumed run
  must give the same value.
* `applied`: may change; the new value is applied after the restore and logged
  (the learning rate).
* `upwards`: may not fall below the restored step (`train_steps`).
* `free`: cadence, budgets and placement; may change freely.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from typing import Any

import numpy as np

from tfp_zoo import datasets, estimators, models
from tfp_zoo.nn import precision as precision_lib
from tfp_zoo.models import architectures, pixels
from tfp_zoo.errors import ConfigError
from tfp_zoo.training import distribute
from tfp_zoo.training.fields import check_fields, field
from tfp_zoo.training.step_config import StepConfig

__all__ = ["TrainConfig", "ConfigError", "LEGACY_NUM_SAMPLES", "RESUME_RULES",
           "LEGACY_ESTIMATOR_DEFAULTS", "ADDED_OPTION_LEGACY_VALUES", "LEGACY_MODEL_HPARAMS",
           "LEGACY_ZERO_MEANS_DEFAULT", "ADDED_HPARAM_LEGACY_VALUES",
           "estimate_memory_bytes", "check_memory", "available_memory_bytes"]

# K of a run saved with "num_samples": null (before each estimator declared its
# own default K, the launcher gave every estimator 5). New runs save K itself.
LEGACY_NUM_SAMPLES = 5


DEFAULT_BATCH_SIZE = 100  # --batch_size when not given (fewer for a smaller dataset)


@dataclasses.dataclass
class TrainConfig:
  """Everything a training run needs. Each field is a flag of launchers/train.py."""
  workdir: str = field(None, "Run directory: config, checkpoints, summaries. An "
                       "existing run there is resumed.", resume="free", required=True)
  model: str = field("vae", "Model to train: a registered name, or your own class as "
                     "package.module:Class.", choices=models.names, plugin=True)
  model_hparams: dict[str, Any] = field(
      None, "Model hyperparameters as key=value,... e.g. 'stochastic_layers=2' or "
      "'latent_sizes=100-50'.", factory=dict)
  estimator: str = field("iwae", "Learning algorithm: a registered name, or your own "
                         "function as package.module:function.", choices=estimators.names,
                         plugin=True)
  num_samples: int | None = field(
      None, "K, samples per example for the estimator (default: the estimator's own, "
      "as from Python: 1 for elbo, stl, hmc, nvil, wake_sleep and beta_tc_vae, 5 for the "
      "others; an error for estimators without K, e.g. alws).", lower=1)
  estimator_options: dict[str, Any] = field(
      None, "Further estimator options as key=value,... e.g. 'analytic_kl=true' for elbo.",
      factory=dict)
  kl_warmup_steps: int = field(
      StepConfig.kl_warmup_steps, "KL warm-up: β grows linearly to its value (--estimator_options=beta, default "
      "1) over this many steps; 0 = off. A function of the step, so resuming is exact. "
      "For estimators with a KL weight (elbo).", lower=0, checked_by=StepConfig)
  dataset: str = field("mnist_small", "mnist_small ships with the package (10k/1k "
                       "digits); mnist, fashion_mnist, omniglot, cifar10, svhn_cropped, "
                       "celeb_a and tfds:NAME read --data_dir (idx files or prepared TFDS "
                       "data); multi_mnist (0-2 digits on a 50x50 canvas, for air) is built "
                       "from mnist_small, or from the idx files in --data_dir; npz:PATH "
                       "(arrays train and test, uint8 [N, H, W, C]) and folder:PATH "
                       "(train/ and test/ of PNGs) are your own images.")
  data_dir: str | None = field(None, "Directory with the four idx .gz files, or a TFDS "
                               "data_dir where the dataset is prepared (a resumed run "
                               "compares the data's content, not this path).",
                               resume="free")
  download: bool = field(False, "Allow TFDS to download the dataset (network).",
                         resume="free")
  binarization: str = field("dynamic", "dynamic: resampled every visit; fixed: once; "
                            "none: grey levels (Gaussian pixels).",
                            choices=lambda: datasets.BINARIZATIONS)
  train_examples: int = field(0, "Train on the first this many training examples "
                              "(0 = all), e.g. the 5000 digits of Li et al.'s matrix "
                              "factorisation.", lower=0)
  train_generative: bool = field(StepConfig.train_generative, "Train the model's parameters θ; false freezes "
                                 "them (at their initial or --init_from values) and trains "
                                 "only the guide by the estimator's guide update, e.g. "
                                 "wake_sleep's sleep update for amortised inference. "
                                 "Cannot change within a run.", checked_by=StepConfig)
  init_from: str = field("", "A new run starts from this workdir's latest weights: the "
                         "model's θ and φ where they match (the optimizers and the step "
                         "start afresh), e.g. a trained VAE to fit a new guide for with "
                         "--train_generative=false. Needs the same --model and its "
                         "hyperparameters (the guide's may differ); a resumed run keeps "
                         "its own weights.", resume="free")
  batch_size: int | None = field(None, f"Examples per step (the global batch; default "
                                 f"{DEFAULT_BATCH_SIZE}, or all the training examples if "
                                 "there are fewer).", lower=1)
  learning_rate: float = field(1e-3, "Adam learning rate (a resumed run applies a new "
                              "value).", resume="applied", lower=0.0, lower_open=True,
                              allowed="must be positive")
  train_steps: int = field(2000, "Total steps (a resumed run continues up to this).",
                           resume="upwards", lower=1)
  max_train_seconds: float = field(0.0, "Wall-clock budget of this invocation: "
                                   "checkpoint and stop when it is spent (0 = no limit).",
                                   resume="free", lower=0.0)
  seed: int = field(StepConfig.seed, "Seed of initialisation, data order and samples.",
                    lower=0, upper=2**31 - 1, checked_by=StepConfig)
  precision: str = field(precision_lib.AUTO, "Train-step arithmetic: auto (bfloat16 where it "
                         "measured faster than float32: AMX or AVX512-BF16 CPUs, GPUs of compute "
                         "capability 8.0+, TPUs; float32 elsewhere; the choice is logged and "
                         "pinned in config.json); float32; bfloat16 (matmuls and convolutions "
                         "in bf16); mixed_float16 (fp16 with loss scaling, for GPUs). "
                         "Variables, log-densities and weights stay float32.",
                         choices=lambda: (precision_lib.AUTO, *precision_lib.PRECISIONS),
                         checked_by=StepConfig)
  jit_compile: bool = field(StepConfig.jit_compile, "Compile the train step with XLA "
                            "(draws other numbers, so it cannot change on resume).",
                            checked_by=StepConfig)
  strategy: str = field("default", "tf.distribute strategy: default (one device), "
                        "one_device, mirrored (all local GPUs), multi_worker_mirrored "
                        "(TF_CONFIG), tpu (--tpu).", resume="free",
                        choices=lambda: distribute.STRATEGIES)
  tpu: str = field("", "TPU name or grpc:// address for --strategy=tpu.", resume="free")
  tpu_safe: bool = field(False, "Build no float64 op (TPUs have none): float32 "
                         "alternatives for ALWS's kernel solves. On under --strategy=tpu; "
                         "set it to check a TPU configuration on a CPU.", resume="free")
  log_every: int = field(100, "Steps between progress lines and summaries.",
                         resume="free", lower=1)
  checkpoint_every: int = field(1000, "Steps between checkpoints.", resume="free", lower=1)
  weight_histograms: bool = field(False, "With each checkpoint's sample images, write a "
                                  "TensorBoard histogram of every trainable variable.",
                                  resume="free")
  eval_every: int = field(0, "Steps between quick test evaluations (K<=100); 0 = only "
                          "at the end.", resume="free", lower=0)
  eval_num_samples: int = field(5000, "K of the final test evaluation.", resume="free",
                                lower=1)
  eval_examples: int = field(0, "Test examples to evaluate (0 = all).", resume="free",
                             lower=0)
  eval_batch_size: int = field(100, "Examples per evaluation batch.", resume="free",
                               lower=1)
  snr_every: int = field(0, "Steps between gradient diagnostics in TensorBoard: the SNR "
                         "|mean|/sd of the θ- and φ-gradients over --snr_num_draws seeds "
                         "on the current batch, and the ESS; 0 = off.", resume="free",
                         lower=0)
  snr_num_draws: int = field(20, "Gradient draws per SNR estimate.", resume="free",
                             lower=2, allowed="must be an integer >= 2 (a standard "
                             "deviation needs two draws)")

  def validate(self, *, resources: bool = True) -> "TrainConfig":
    """Checks names, types and values of every field, the model's hparams and the
    estimator's options, and (with `resources`) that a step fits in memory;
    raises ConfigError naming the first bad one."""
    check_fields(self)
    try:
      self.step_config()  # the step's settings are checked by StepConfig alone
    except ValueError as e:
      raise ConfigError(f"--{e}") from None
    try:
      datasets.check_dataset(self.dataset)
    except ValueError as e:
      raise ConfigError(f"--dataset={self.dataset!r}: {e}") from None
    try:
      model_spec = models.get_spec(self.model)
    except ValueError as e:
      raise ConfigError(f"--model={self.model}: {e}") from None
    try:
      estimator_spec = estimators.get_spec(self.estimator)
    except ValueError as e:
      raise ConfigError(f"--estimator={self.estimator}: {e}") from None
    try:
      model_spec.check_names(self.model_hparams)
      model_spec.check_types(self.model_hparams)
    except ValueError as e:
      raise ConfigError(f"--model_hparams: {e}") from None
    if model_spec.latents is not None and not estimator_spec.supports(model_spec.latents):
      able = [s.name for s in estimators.specs() if s.source == "tfp_zoo"
              and s.supports(model_spec.latents)]
      raise ConfigError(
          f"--estimator={self.estimator} trains models with "
          f"{' or '.join(estimator_spec.latents)} latents, and --model={self.model} has "
          f"{model_spec.latents} ones; use one of {', '.join(able)}")
    if self.eight_bit and self.binarization != "none":
      raise ConfigError(f"--binarization={self.binarization}: likelihood="
                        f"{self.model_hparams['likelihood']} models 8-bit levels 0..255; "
                        "use --binarization=none")
    if "num_samples" in self.estimator_options:
      raise ConfigError("--estimator_options: set num_samples with --num_samples")
    try:
      bound = self.bind_estimator()
    except ValueError as e:
      raise ConfigError(f"--estimator_options: {e}") from None
    if self.kl_warmup_steps and not estimators.accepts(self.estimator, "beta"):
      raise ConfigError(f"--kl_warmup_steps={self.kl_warmup_steps}: --estimator="
                        f"{self.estimator} has no KL weight (beta) to warm up; use elbo")
    if self.num_samples is not None and not bound.takes_num_samples:
      raise ConfigError(f"--num_samples={self.num_samples}: --estimator={self.estimator} "
                        "takes no K and would ignore it; remove --num_samples (see its "
                        "--estimator_options)")
    if resources:
      check_memory(self)  # at MNIST's size; the loop checks again with the data's
    return self

  def step_config(self, dataset_size: int | None = None) -> StepConfig:
    """The train step's settings (`StepConfig`), from these flags and the
    number of training examples."""
    return StepConfig(seed=self.seed, precision=self.resolved_precision()[0],
                      jit_compile=self.jit_compile, kl_warmup_steps=self.kl_warmup_steps,
                      train_generative=self.train_generative, dataset_size=dataset_size,
                      float64_free=self.float64_free)

  def resolved_precision(self) -> tuple[str, str | None]:
    """The train step's precision, with `auto` decided for this host.

    Returns:
      (precision, reason): one of `nn.precision.PRECISIONS`, and why `auto`
      chose it (None for an explicit value).
    """
    if self.precision != precision_lib.AUTO:
      return self.precision, None
    return precision_lib.auto_precision(**precision_lib.host_hardware(self.strategy))

  @property
  def float64_free(self) -> bool:
    """True if the train step must build no float64 op (TPU, or --tpu_safe)."""
    return self.tpu_safe or self.strategy == "tpu"

  @property
  def eight_bit(self) -> bool:
    """True if the model's pixels are 8-bit levels (a discretised likelihood)."""
    return self.resolved_model_hparams().get("likelihood") in pixels.DISCRETIZED

  def bind_estimator(self, dataset_size: int | None = None) -> estimators.BoundEstimator:
    """The estimator with its options (and K where it takes one), checked.

    `dataset_size` (the number of training examples, once the data is loaded)
    fills in the option of that name for estimators that take one (beta_tc_vae).
    """
    options = dict(self.estimator_options)
    spec = estimators.get_spec(self.estimator)
    for name in spec.supplied_by_loop:
      if name in options:
        raise ValueError(f"{name} is filled in by the training loop from the data; "
                         "remove it from --estimator_options")
    if spec.takes_num_samples:
      options["num_samples"] = self.effective_num_samples
    if dataset_size is not None and "dataset_size" in spec.supplied_by_loop:
      options["dataset_size"] = dataset_size
    return estimators.bind(self.estimator, **options)

  @property
  def effective_num_samples(self) -> int | None:
    """K as the estimator sees it (None for estimators without K)."""
    try:
      spec = estimators.get_spec(self.estimator)
    except ValueError:
      return self.num_samples  # validate() names the estimator
    if not spec.takes_num_samples:
      return None
    return spec.default_num_samples if self.num_samples is None else self.num_samples

  def all_estimator_options(self) -> dict[str, Any]:
    """The estimator's keyword options: K (if it takes one) and the rest."""
    return dict(self.bind_estimator().options)

  def pinned_model_hparams(self) -> dict[str, Any]:
    """Every hyperparameter of the model, defaults included: what config.json
    saves, so that the run rebuilds the same model after a default changes."""
    return {**models.hparam_defaults(self.model), **self.resolved_model_hparams()}

  def pinned_estimator_options(self) -> dict[str, Any]:
    """Every option of the estimator that has an effect here, defaults
    included (K is --num_samples and dataset_size comes from the data)."""
    spec = estimators.get_spec(self.estimator)
    defaults = {k: v for k, v in spec.defaults().items()
                if k != "num_samples" and k not in spec.supplied_by_loop}
    options = {**defaults, **self.estimator_options}
    dead = spec.ignored(options)
    return {k: v for k, v in options.items() if k not in dead}

  def with_run_defaults(self, saved: "TrainConfig") -> "TrainConfig":
    """This config with the hyperparameters and options it does not set taken
    from the saved run `saved` (`workdir.load_saved_run`): the run's values,
    not today's defaults."""
    if saved.model != self.model or saved.estimator != self.estimator:
      return self  # the resume check refuses it, naming both
    options = {**saved.estimator_options, **self.estimator_options}
    # A saved option that a flag's change makes meaningless is not the flags'
    # doing: drop it, so that the resume check names the change itself.
    dead = estimators.get_spec(self.estimator).ignored(options)
    options = {k: v for k, v in options.items() if k in self.estimator_options or k not in dead}
    return dataclasses.replace(
        self, num_samples=saved.num_samples if self.num_samples is None else self.num_samples,
        model_hparams={**saved.model_hparams, **self.model_hparams},
        estimator_options=options,
        precision=saved.precision if self.precision == precision_lib.AUTO else self.precision,
        batch_size=saved.batch_size if self.batch_size is None else self.batch_size)

  def resolved_model_hparams(self) -> dict[str, Any]:
    """Model hyperparameters with data-dependent defaults filled in."""
    hparams = dict(self.model_hparams)
    accepted = models.hparam_names(self.model)
    if "likelihood" in accepted and "likelihood" not in hparams:
      hparams["likelihood"] = "gaussian" if self.binarization == "none" else "bernoulli"
    if "seed" in accepted and "seed" not in hparams:
      hparams["seed"] = self.seed
    return hparams


# Read from the estimators' specs (`legacy_defaults`, `legacy_added_options`):
# estimator defaults that changed, at their old values, for runs saved before
# config.json pinned every default; and options added after it began pinning,
# at the value that reproduces the runs saved before them.
LEGACY_ESTIMATOR_DEFAULTS: dict[str, dict[str, Any]] = {
    s.name: dict(s.legacy_defaults) for s in estimators.specs() if s.legacy_defaults}
ADDED_OPTION_LEGACY_VALUES: dict[str, dict[str, Any]] = {
    s.name: dict(s.legacy_added_options) for s in estimators.specs()
    if s.legacy_added_options}
# Model hyperparameters added after config.json began pinning every default:
# name -> (the saved hyperparameters under which it has an effect, the value
# that rebuilds the runs saved before it). The IAF guide took no context.
ADDED_HPARAM_LEGACY_VALUES: dict[str, tuple[dict[str, Any], Any]] = {
    "iaf_context": ({"guide": "iaf"}, False),
}
# Model sizes that config.json stored as 0 meaning "the default" before an
# explicit 0 was refused: a saved 0 reads as unset (no new run can save 0).
LEGACY_ZERO_MEANS_DEFAULT = ("flow_layers", "flow_hidden", "prior_components")
# Model hyperparameter defaults that changed, likewise (since 2026-11-27 the
# Gaussian pixel scale starts at 0.1 instead of 1); applied where the model takes them.
LEGACY_MODEL_HPARAMS: dict[str, Any] = {"pixel_scale_init": 1.0}

RESUME_RULES: dict[str, str] = {f.name: f.metadata["resume"]
                                for f in dataclasses.fields(TrainConfig)}


def estimate_memory_bytes(config: TrainConfig,
                          input_shape: tuple[int, ...] = (28, 28, 1)) -> int:
  """An estimate of the training step's allocations beyond what is loaded.

  Each of the K × batch particles (or the sleep samples) holds the
  activations of every layer, forward and backward and a temporary (× 3,
  float32): for an MLP its layer widths, for a conv net every feature map of
  the encoder and its mirror in the decoder, beside the image and the
  decoder's parameters per pixel. The parameters hold Adam's two slots and a
  gradient each. Within 0.8-1.3x of the measured growth of the peak RSS over
  a tiny run's on this project's hosts (an MLP VAE at K × batch = 5000 and
  50000 particles, a conv VAE on 64 × 64 × 3 images at 320 and 1280).
  """
  options = config.estimator_options
  batch_size = config.batch_size or DEFAULT_BATCH_SIZE
  particles = (config.effective_num_samples or 1) * batch_size
  particles = max(particles, int(options.get("num_sleep_samples", 0) or 0))
  hparams = config.resolved_model_hparams()
  event_size = int(np.prod(input_shape))
  per_pixel = pixels.params_per_pixel(hparams.get("likelihood", "bernoulli"))
  latents = _sizes(hparams.get("latent_sizes", hparams.get("layer_sizes", (50,))))
  try:
    architecture = architectures.resolve(hparams.get("architecture", "auto"), input_shape,
                                         hparams.get("conv_channels"),
                                         hparams.get("residual_blocks", 0))
  except ValueError:
    architecture = "mlp"  # the model refuses it when built
  if architecture == "conv" and config.model in ("vae", "discrete_vae", "hyperspherical_vae"):
    height, width = input_shape[0], input_shape[1]
    maps = 0
    for channels in _sizes(hparams.get("conv_channels") or architectures.DEFAULT_CONV_CHANNELS):
      height, width = -(-height // 2), -(-width // 2)
      maps += height * width * channels * (1 + 2 * int(hparams.get("residual_blocks", 0)))
    per_particle = event_size * (1 + per_pixel) + 2 * maps + sum(latents)
    parameters = 0
  else:
    sizes = [event_size, *_sizes(hparams.get("hidden_sizes", (200, 200))), *latents]
    per_particle = sum(sizes) + event_size * (per_pixel - 1)
    parameters = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * 4 * 4
  activations = particles * per_particle * 4 * 3  # forward, backward, temporaries
  features = int(options.get("num_features", 0) or 0)
  kernel = features * (max(particles, batch_size) + features) * 4 * 2
  return activations + parameters + kernel


def _sizes(value: Any) -> tuple[int, ...]:
  if isinstance(value, int):
    return (value,)
  return tuple(v for v in value if isinstance(v, int)) if isinstance(value, tuple) else ()


def _proc_kib(path: str, field: str) -> int | None:
  try:
    with open(path) as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def available_memory_bytes() -> int:
  """What this process may still allocate: the available physical memory
  (MemAvailable), and under an address-space limit (RLIMIT_AS) what is left
  of it beyond the address space already mapped."""
  total = (_proc_kib("/proc/meminfo", "MemAvailable")
           or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
  soft, _ = resource.getrlimit(resource.RLIMIT_AS)
  if soft == resource.RLIM_INFINITY:
    return total
  return min(total, soft - (_proc_kib("/proc/self/status", "VmSize") or 0))


def check_memory(config: TrainConfig, input_shape: tuple[int, ...] = (28, 28, 1),
                 data_bytes: int = 0) -> None:
  """Refuses (ConfigError) a run whose step, and the data still to be loaded,
  will not fit in the memory this process has left."""
  needed = estimate_memory_bytes(config, tuple(input_shape)) + data_bytes
  available = available_memory_bytes()
  if needed > available:
    flags = ("--num_samples or --batch_size" if config.effective_num_samples
             else "--batch_size or --estimator_options=num_sleep_samples/num_features")
    raise ConfigError(
        f"out of memory: a step needs about {needed / 2**30:.1f} GiB"
        + (f" (the data {data_bytes / 2**30:.1f} of it)" if data_bytes else "")
        + f" and {available / 2**30:.1f} GiB is available; lower {flags} (or the "
        "--model_hparams layer sizes)")
