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
    # nbclient, nbformat and ipykernel: the tests execute docs/notebooks.
    # docs: the MkDocs site (mkdocs build --strict; mkdocstrings 0.30 fails
    # with pymdown-extensions 13, 1.0 works).
    extras_require={"plots": ["matplotlib>=3.8,<4"], "torch": ["torch>=2.2"],
                    "test": ["pytest>=8", "pytest-xdist>=3.5,<4", "matplotlib>=3.8,<4",
                             "nbclient>=0.10,<1", "nbformat>=5.9,<6", "ipykernel>=6.29,<8"],
                    "docs": ["mkdocs==1.6.*", "mkdocs-material==9.*",
                             "mkdocstrings[python]>=1,<2"]},
)
