"""A back end as written in a YAML file (a system's or a judge preset's ``backend:``), checked against the named
back end's own options when the file is loaded, so a typo stops the run before any work, naming the option."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit.errors import ConfigError

# Options that say only how a model is reached (where its replicas live, how many calls run at once, how long
# to wait, what it costs), never what it answers: a system's config hash leaves them out, so workers on two
# machines, each with its own endpoints, share one run.
DEPLOYMENT_KEYS = frozenset({
    "base_url", "api_key_env", "max_concurrency", "max_attempts", "timeout_s", "backoff_base_s", "backoff_max_s",
    "retry_after_max_s", "price_per_1k_input", "price_per_1k_output", "replica_failures", "replica_cooldown_s",
    "data_parallel_size", "gpus_per_worker",
})


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(description="the back end: openai_compat, transformers, vllm, or one installed through the "
                                  "evalkit.backends entry points")

    @model_validator(mode="after")
    def _valid_for_its_backend(self) -> BackendConfig:
        extra = self.model_extra or {}
        if extra.get("api_key"):
            raise ValueError("api_key is never kept in a config file; set the key in the environment variable that "
                             "api_key_env names (default OPENAI_API_KEY)")
        from evalkit.backends.base import backend_class

        try:
            backend_class(self.name).validated(**extra)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return self


__all__ = ["DEPLOYMENT_KEYS", "BackendConfig"]
