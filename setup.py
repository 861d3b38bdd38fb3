"""tfp-zoo: deep latent-variable models and their learning algorithms in TFP."""

import setuptools

setuptools.setup(
    name="tfp-zoo",
    version="0.1.0",
    description=(
        "TensorFlow Probability model zoo for deep latent-variable models: "
        "JointDistribution models, ELBO/IWAE/wake-sleep estimators, launchers."
    ),
    packages=setuptools.find_packages(include=["tfp_zoo", "tfp_zoo.*"]),
    package_data={"tfp_zoo.datasets": ["data/*/*.gz"]},
    include_package_data=True,
    python_requires=">=3.11,<3.12",
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        # tfp_zoo.keras (EstimatorModel): Keras 3's public Model API only; tested with 3.15.
        "keras>=3.15,<4",
        "tensorflow-probability==0.25.*",
        "tensorflow-datasets>=4.9.10,<5",
        # tensorflow-datasets 4.9.10 imports it but does not declare it.
        "importlib_resources>=6",
        # TF 2.21 no longer pulls tensorboard in.
        "tensorboard==2.21.*",
        "absl-py>=2.1,<3",
        "numpy>=1.26,<3",
    ],
    # matplotlib draws the benchmark plots; the tests run one benchmark end to end.
    # torch: benchmarks/throughput.py's PyTorch comparison (optional).
    extras_require={"plots": ["matplotlib>=3.8,<4"], "torch": ["torch>=2.2"],
                    "test": ["pytest>=8", "pytest-xdist>=3.5,<4", "matplotlib>=3.8,<4"]},
)
