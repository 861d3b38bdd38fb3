"""tfp-zoo: deep latent-variable models and their learning algorithms in TFP."""

import pathlib
import re

import setuptools

_HERE = pathlib.Path(__file__).parent
# One version, in the package (tfp_zoo.__version__); setup.py reads it without importing.
_VERSION = re.search(r'^__version__ = "([^"]+)"',
                     (_HERE / "tfp_zoo" / "__init__.py").read_text(), re.M).group(1)

setuptools.setup(
    name="tfp-zoo",
    version=_VERSION,
    description=(
        "TensorFlow Probability model zoo for deep latent-variable models: "
        "JointDistribution models, ELBO/IWAE/wake-sleep estimators, launchers."
    ),
    long_description=(_HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    keywords=["tensorflow", "tensorflow-probability", "variational-inference",
              "importance-weighted-autoencoder", "wake-sleep", "vae", "generative-models"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Science/Research",
        "Intended Audience :: Developers",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Mathematics",
    ],
    packages=setuptools.find_packages(include=["tfp_zoo", "tfp_zoo.*"]),
    # The shipped MNIST subset: the commands' default dataset, offline.
    package_data={"tfp_zoo.datasets": ["data/*/*.gz"]},
    include_package_data=True,
    entry_points={"console_scripts": [
        "tfp-zoo-train=tfp_zoo.launch.train:run",
        "tfp-zoo-evaluate=tfp_zoo.launch.evaluate:run",
        "tfp-zoo-sample=tfp_zoo.launch.sample:run",
        "tfp-zoo-export=tfp_zoo.launch.export:run",
    ]},
    # Tested with CPython 3.11 only (TF 2.21's wheels and this CI).
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
    # nbclient, nbformat and ipykernel: the tests execute docs/notebooks.
    # docs: the MkDocs site (mkdocs build --strict; mkdocstrings 0.30 fails
    # with pymdown-extensions 13, 1.0 works).
    extras_require={"plots": ["matplotlib>=3.8,<4"], "torch": ["torch>=2.2"],
                    "test": ["pytest>=8", "pytest-xdist>=3.5,<4", "matplotlib>=3.8,<4",
                             "nbclient>=0.10,<1", "nbformat>=5.9,<6", "ipykernel>=6.29,<8",
                             # the wheel test builds without build isolation (offline)
                             "wheel>=0.42"],
                    "docs": ["mkdocs==1.6.*", "mkdocs-material==9.*",
                             "mkdocstrings[python]>=1,<2"]},
)
