from tests.backends.conftest import tiny_llama  # noqa: F401  (the tiny random Llama, built on the spot)
