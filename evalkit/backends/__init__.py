"""Model back ends, chosen by name. Importing this registers the factories; no optional dependency
is imported until a back end is created."""

from evalkit.backends import openai_compat, transformers_backend, vllm_backend  # noqa: F401
from evalkit.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    backend_names,
    create_backend,
    register_backend,
)

__all__ = ["Backend", "GenerationRequest", "GenerationResult", "backend_names", "create_backend", "register_backend"]
