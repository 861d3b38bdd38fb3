"""Every public name that existed before the package was regrouped still
imports from its old module path (the moved modules import as themselves)."""

import importlib

import tensorflow as tf

# Every public name of the package's `__all__` lists before the package was
# regrouped by layer (modules moved into nn/, evaluation/, app/ and
# training/): old paths and names still import. Removed as dead code:
# tfp_zoo.training.workdir.has_checkpoint.
PUBLIC_NAMES_BEFORE_THE_REGROUPING = {
    "tfp_zoo.annealed_importance": "ais_log_likelihood check_real_latents PROPOSALS",
    "tfp_zoo.conv": "Conv2D Conv2DTranspose ResidualBlock ConvEncoder ConvDecoder downsampled_sizes",
    "tfp_zoo.datasets": (
        "read_idx write_idx IdxImages BINARIZATIONS binarize_fixed eval_images to_float "
        "train_batches DATASETS SPLITS DatasetError DatasetNotFoundError check_dataset "
        "data_digest load_counts load_images shipped_dir multi_mnist estimated_size"
    ),
    "tfp_zoo.datasets.download": "download_and_prepare PROBE_URL PROBE_SECONDS",
    "tfp_zoo.datasets.idx": (
        "read_idx write_idx read_split check_split decode_idx read_file IDX_FILES NUM_CLASSES "
        "IMAGE_SHAPE"
    ),
    "tfp_zoo.datasets.idx_builder": "IdxImages",
    "tfp_zoo.datasets.multi_mnist": "NAME CANVAS_SIZE MAX_DIGITS MultiMnist build_split digest from_digits source_name",
    "tfp_zoo.datasets.pipeline": "BINARIZATIONS binarize_fixed to_float train_batches eval_images",
    "tfp_zoo.datasets.random_access": "RandomAccessImages",
    "tfp_zoo.datasets.sources": (
        "DATASETS SPLITS DatasetNotFoundError load_images load_counts shipped_dir data_digest "
        "check_dataset"
    ),
    "tfp_zoo.datasets.tfds_images": "IMAGE_DATASETS IN_MEMORY_BYTES PREFIX tfds_name load",
    "tfp_zoo.datasets.user_images": "PREFIXES is_user_dataset load_npz load_folder user_digest npz_size",
    "tfp_zoo.distributions": "Bernoulli",
    "tfp_zoo.errors": (
        "UserError ConfigError ExportError TrainingDivergedError DatasetError "
        "DatasetNotFoundError WorkdirLockedError ResourceError NonFiniteResultError"
    ),
    "tfp_zoo.estimators": (
        "Objectives elbo iwae miwae ciwae piwae dreg stl rws vimco wake_sleep nvil alws "
        "NvilBaseline AlwsFeatureMap AlwsState importance_log_weights get names check_options "
        "make_state accepts default_num_samples Estimator bind BoundEstimator state_factory "
        "alws_state nvil_state hmc hmc_state HmcStepSize beta_tc_vae CONTINUOUS_LATENTS "
        "score_function_log_weights"
    ),
    "tfp_zoo.estimators.amortised_learning": "alws alws_state AlwsState AlwsFeatureMap SOLVERS FEATURE_MAPS BANDWIDTHS",
    "tfp_zoo.estimators.base": (
        "check_model check_seed entry_point check_real_latents latent_space_bijectors "
        "Objectives LogWeights importance_log_weights as_named require_guide "
        "require_reparameterized reparameterized_guide check_num_samples check_observations "
        "check_inputs effective_sample_size latent_names dream guide_log_prob "
        "self_normalized_weights check_choice path_derivative_loss objectives_and_gradients "
        "CONTINUOUS_LATENTS score_function_log_weights"
    ),
    "tfp_zoo.estimators.binding": "BoundEstimator bind IGNORED_UNLESS check_option_types option_names ignored_options",
    "tfp_zoo.estimators.catalog": (
        "Estimator get names check_options accepts make_state state_factory "
        "default_num_samples"
    ),
    "tfp_zoo.estimators.evidence_lower_bound": "elbo",
    "tfp_zoo.estimators.hmc_refined": "hmc hmc_state HmcStepSize",
    "tfp_zoo.estimators.importance_weighted": "iwae",
    "tfp_zoo.estimators.iwae_relatives": "miwae ciwae piwae",
    "tfp_zoo.estimators.monte_carlo_objectives": "vimco",
    "tfp_zoo.estimators.neural_variational_inference": "nvil NvilBaseline nvil_state BASELINES BOUNDS",
    "tfp_zoo.estimators.option_rules": "RULES check_option_values",
    "tfp_zoo.estimators.path_derivative": "dreg stl",
    "tfp_zoo.estimators.reweighted_wake_sleep": "rws GUIDE_UPDATES",
    "tfp_zoo.estimators.total_correlation": "beta_tc_vae check_factorised_guide aggregate_log_density SAMPLINGS",
    "tfp_zoo.estimators.wake_sleep_algorithm": "wake_sleep sleep_guide_loss",
    "tfp_zoo.evaluation": (
        "PROPOSALS LogLikelihood ais_log_likelihood DatasetLogLikelihood GradientSNR "
        "log_likelihood log_likelihood_weights summarize_log_weights dataset_log_likelihood "
        "gradient_snr"
    ),
    "tfp_zoo.exponential_family": "NaturalForm natural_form family SUPPORTED",
    "tfp_zoo.export": (
        "export_model export_workdir sample_with_means decode ExportError "
        "LOG_LIKELIHOOD_CHUNK"
    ),
    "tfp_zoo.figures": "write_pictures",
    "tfp_zoo.frechet": "frechet_distance gaussian_frechet_distance",
    "tfp_zoo.inference": "map_latents",
    "tfp_zoo.kernels": (
        "KERNELS PROJECTIONS TPU_SAFE_MIN_RIDGE RIDGE_GRID RIDGE_RULES RidgeChoice "
        "median_bandwidth median_cross_distance solve_dtype random_fourier_features "
        "loo_feature_ridge_smoother loo_kernel_ridge_smoother nystrom_features "
        "feature_ridge_rows kernel_ridge_rows choose_feature_ridge choose_kernel_ridge "
        "feature_ridge_smoother kernel_ridge_smoother kernel symmetric_eigh"
    ),
    "tfp_zoo.launch_flags": (
        "define_train_flags train_config_from_flags run_or_exit parse_flags is_existing_dir "
        "INTERRUPTED"
    ),
    "tfp_zoo.log_likelihood_summary": "LogLikelihood summarize_log_weights",
    "tfp_zoo.models": (
        "LatentVariableModel AIR DiscreteVAE GaussianMixture HypersphericalVAE "
        "MatrixFactorisation LinearGaussian PolynomialRegression SigmoidBeliefNet VAE "
        "OBSERVATION Root get get_class names check_hparams hparam_names"
    ),
    "tfp_zoo.models.air": "AIR DECODERS LIKELIHOODS WHERE_PRIOR_SCALE",
    "tfp_zoo.models.architectures": "ARCHITECTURES DEFAULT_CONV_CHANNELS resolve encoder decoder encode decode",
    "tfp_zoo.models.base": "LatentVariableModel Root OBSERVATION SUPPORTS check_that check_values",
    "tfp_zoo.models.discrete_vae": "DiscreteVAE LATENTS",
    "tfp_zoo.models.flows": "MADE AutoregressiveFlow FLOW_NAME",
    "tfp_zoo.models.gaussian_mixture": "GaussianMixture",
    "tfp_zoo.models.hyperspherical_vae": "HypersphericalVAE",
    "tfp_zoo.models.linear_gaussian": "LinearGaussian GUIDES",
    "tfp_zoo.models.matrix_factorisation": "MatrixFactorisation PRIORS DICTIONARIES",
    "tfp_zoo.models.pixels": (
        "LIKELIHOODS DEFAULT_PIXEL_SCALE_INIT DISCRETIZED MIXTURE_COMPONENTS "
        "DiscretizedLogistic check_likelihood initial_raw_scale network_input observation "
        "params_per_pixel support bits_per_dim"
    ),
    "tfp_zoo.models.polynomial_regression": "PolynomialRegression NOISES GUIDES",
    "tfp_zoo.models.priors": "PRIORS DEFAULT_COMPONENTS MixturePrior VampPrior FlowPrior standard_normal",
    "tfp_zoo.models.sigmoid_belief_net": "SigmoidBeliefNet",
    "tfp_zoo.models.vae": "VAE LIKELIHOODS GUIDES ARCHITECTURES",
    "tfp_zoo.nn": "Dense MLP LSTMCell flatten_event parse_sizes check_positive_or_unset ACTIVATIONS",
    "tfp_zoo.pictures": "tile has_planar_latent latent_grid posterior_on_grid pixel_max for_display",
    "tfp_zoo.precision": (
        "PRECISIONS check_precision compute_dtype using cast_input cast_output tpu_safe "
        "float64_allowed"
    ),
    "tfp_zoo.progress": "Progress",
    "tfp_zoo.registry": "Registry parse_key_values parse_value",
    "tfp_zoo.sampling": "sample_with_means decode",
    "tfp_zoo.spatial_transformer": "interpolation_matrix extract_window place_window",
    "tfp_zoo.testing": (
        "start_launcher launcher_env wait_for_line write_fake_idx write_prepared_tfds "
        "replicate mean_and_stderr max_abs_z_score linear_gaussian_problem "
        "estimator_gradients gradient_problems TINY_VAE tiny_train_config FULL_PRODUCT_ENV "
        "FULL_PRODUCT_SUFFIX full_product sample_product sampled trained_workdir"
    ),
    "tfp_zoo.training": (
        "ConfigError NonFiniteResultError finite_scalar ResourceError TrainingDivergedError "
        "WorkdirLockedError TrainConfig load_config evaluate_workdir restore_model train "
        "Progress Trainer make_optimizer make_train_step step_seed"
    ),
    "tfp_zoo.training.actions": (
        "write_scalars finite_scalar diagnostic LogMetrics SaveCheckpoint GradientSnr "
        "QuickEval StopConditions evaluate_to_summary"
    ),
    "tfp_zoo.training.config": (
        "TrainConfig ConfigError LEGACY_NUM_SAMPLES RESUME_RULES LEGACY_ESTIMATOR_DEFAULTS "
        "ADDED_OPTION_LEGACY_VALUES LEGACY_MODEL_HPARAMS LEGACY_ZERO_MEANS_DEFAULT "
        "ADDED_HPARAM_LEGACY_VALUES estimate_memory_bytes check_memory available_memory_bytes"
    ),
    "tfp_zoo.training.distribute": (
        "STRATEGIES StrategyError make_strategy check_tf_config is_chief replica_seed "
        "distribute_batches"
    ),
    "tfp_zoo.training.loop": "train",
    "tfp_zoo.training.train_step": "make_optimizer make_train_step step_seed Trainer FINITE",
    "tfp_zoo.training.workdir": (
        "CONFIG_FILE CHECKPOINT_DIR RESULTS_FILE LOCK_FILE EVAL_SEED Lock save_config "
        "load_config load_saved_run check_resume checkpoint_candidates restore "
        "init_model_from build_model test_images restore_model evaluate_workdir write_json "
        "read_results writing"
    ),
}


class OldPathsTest(tf.test.TestCase):

  def test_every_old_public_name_still_imports(self):
    missing = []
    for module_name, names in PUBLIC_NAMES_BEFORE_THE_REGROUPING.items():
      module = importlib.import_module(module_name)
      missing += [f"{module_name}.{n}" for n in names.split() if not hasattr(module, n)]
    self.assertEmpty(missing)
    self.assertGreater(sum(len(n.split()) for n in PUBLIC_NAMES_BEFORE_THE_REGROUPING.values()),
                       400)

  def test_an_old_path_is_the_moved_module_itself(self):
    import tfp_zoo.conv  # pylint: disable=g-import-not-at-top
    from tfp_zoo.nn import conv  # pylint: disable=g-import-not-at-top
    self.assertIs(tfp_zoo.conv, conv)
    self.assertEqual(conv.__name__, "tfp_zoo.nn.conv")
    self.assertEqual(conv.__spec__.name, "tfp_zoo.nn.conv")
    from tfp_zoo import pictures, sampling  # pylint: disable=g-import-not-at-top
    self.assertIs(pictures, sampling)  # both became evaluation.samples
    with self.assertRaises(ModuleNotFoundError):
      importlib.import_module("tfp_zoo.no_such_module")


if __name__ == "__main__":
  tf.test.main()
