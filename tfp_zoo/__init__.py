"""tfp-zoo: deep latent-variable models as TFP JointDistributions, and their
learning algorithms as interchangeable estimators."""

from tfp_zoo import (datasets, estimators, evaluation, exponential_family, export, frechet,
                     inference, kernels, models, nn, training)
from tfp_zoo.estimators import Objectives, elbo, iwae
from tfp_zoo.evaluation import LogLikelihood, log_likelihood
from tfp_zoo.models import LatentVariableModel, LinearGaussian, VAE

__version__ = "0.1.0"
__all__ = ["datasets", "estimators", "evaluation", "exponential_family", "export", "frechet",
           "inference", "kernels", "models", "nn", "training",
           "Objectives", "elbo", "iwae", "LogLikelihood", "log_likelihood",
           "LatentVariableModel", "LinearGaussian", "VAE", "__version__"]
