"""Packaging for httsleep. Build settings and tool configuration live in pyproject.toml."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.abspath(os.path.dirname(__file__))


def read(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return handle.read()


VERSION = re.search(r'^__version__ = "([^"]+)"', read("httsleep/__init__.py"), re.M).group(1)

# sniffio: httpcore imports it on every connection-lock setup; when it is
# missing each failed import searches sys.path (~1 ms per request).
# async-timeout: the asyncio.timeout of Python 3.11 for 3.9 and 3.10 (aiohttp depends on it there too)
HTTPX_REQUIRES = ["httpx>=0.24", "sniffio>=1.3", "async-timeout>=4; python_version < '3.11'"]
# per-request auto_decompress (httsleep reads bodies raw) needs aiohttp 3.10
AIOHTTP_REQUIRES = ["aiohttp>=3.10", "async-timeout>=4; python_version < '3.11'"]
# the asyncio front end's default client: aiohttp's costs about a third of httpx's CPU per request
ASYNC_REQUIRES = AIOHTTP_REQUIRES
# httsleep.ratelimit.LimitsRateLimit: rate limits kept in the storages of the limits library (Redis...)
LIMITS_REQUIRES = ["limits>=3"]

# brotli and zstd: the codings requests, httpx and aiohttp ask servers for when these are
# installed, and that httsleep then decodes itself, bounded (Brotli 1.2 is the first whose
# decompressor can be limited per step; Python 3.14 has zstd in the standard library)
COMPRESSION_REQUIRES = ["brotli>=1.2", "backports.zstd>=1.0; python_version < '3.14'"]

# the fleet-wide circuit breaker (httsleep.redis): redis-py 5 has redis.asyncio and scripts on both
REDIS_REQUIRES = ["redis>=5"]
# metrics and tracing (httsleep.instrumentation): each used when it is installed
PROMETHEUS_REQUIRES = ["prometheus_client>=0.17"]
OTEL_REQUIRES = ["opentelemetry-api>=1.20"]

TEST_REQUIRES = [
    "pytest>=7",
    "pytest-cov>=4",
    "coverage>=7.10",
    "pytest-httpserver>=1.0.8",
    "trustme>=1.0",
    "httpx>=0.24",
    "hypothesis>=6.100",
    *AIOHTTP_REQUIRES,
    # what httsleep 0.3.1's own test suite imports (tests/test_upstream_suite.py runs it)
    "httpretty>=1.1",
    "mock>=4",
    *COMPRESSION_REQUIRES,
    # the zstd decoder httsleep falls back to when only httpx's zstd module is installed
    "zstandard>=0.23",
    *LIMITS_REQUIRES,
    # the fleet-wide breaker's tests run a real redis-server
    *REDIS_REQUIRES,
    # metrics and tracing: a scrape of httsleep's series, and the SDK's in-memory exporter around the
    # HTTP libraries' own instrumentations (tests/test_instrumentation.py, tests/test_credential_sweeps.py)
    *PROMETHEUS_REQUIRES,
    "opentelemetry-sdk>=1.20",
    "opentelemetry-instrumentation-requests",
    "opentelemetry-instrumentation-httpx",
    "opentelemetry-instrumentation-aiohttp-client",
]

setup(
    name="httsleep",
    version=VERSION,
    description="Poll HTTP endpoints until the response matches declarative conditions - batteries included",
    long_description=read("README.md"),
    long_description_content_type="text/markdown",
    author="Aengus Walton and the httsleep contributors",
    license="Apache-2.0",
    license_files=["LICENSE"],
    url="https://github.com/kopf/httsleep",
    project_urls={
        "Documentation": "https://httsleep.readthedocs.io/",
        "Changelog": "https://github.com/kopf/httsleep/blob/main/CHANGELOG.md",
        "Issues": "https://github.com/kopf/httsleep/issues",
        "Source": "https://github.com/kopf/httsleep",
    },
    packages=find_packages(include=["httsleep", "httsleep.*"]),
    package_data={"httsleep": ["py.typed"]},
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=["requests>=2.25", "jsonpath-rw>=1.4"],
    extras_require={
        "async": ASYNC_REQUIRES,
        "aiohttp": AIOHTTP_REQUIRES,
        "httpx": HTTPX_REQUIRES,
        "compression": COMPRESSION_REQUIRES,
        "limits": LIMITS_REQUIRES,
        "redis": REDIS_REQUIRES,
        "prometheus": PROMETHEUS_REQUIRES,
        "otel": OTEL_REQUIRES,
        "test": TEST_REQUIRES,
        # mypy checks for Python 3.10 (pyproject.toml), where the asyncio bounds import async-timeout
        "lint": ["ruff>=0.4", "mypy>=1.8", "types-requests", "async-timeout>=4", *PROMETHEUS_REQUIRES, *OTEL_REQUIRES],
        # autodoc imports every module it documents: the asyncio transports need httpx and aiohttp,
        # httsleep.redis needs redis-py
        "docs": ["sphinx>=7", "myst-parser>=2", "furo>=2024.1", *HTTPX_REQUIRES, *AIOHTTP_REQUIRES, *REDIS_REQUIRES],
        "bench": ["matplotlib>=3.5", "polling2>=0.5", "tenacity>=8", *AIOHTTP_REQUIRES],
    },
    entry_points={"console_scripts": ["httsleep = httsleep.__main__:main"]},
    classifiers=[
        "Development Status :: 5 - Production/Stable",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP",
        "Typing :: Typed",
    ],
)
