"""Model back ends, chosen by name (``base.BUILT_IN``, or another package's entry points). A back end's module is
imported when one of its kind is first created, and its optional dependencies only when an instance needs them."""

from evalkit.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    backend_names,
    create_backend,
    register_backend,
)

__all__ = ["Backend", "GenerationRequest", "GenerationResult", "backend_names", "create_backend", "register_backend"]
