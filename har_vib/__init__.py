"""har-vib: compress recurrent action-recognition models with Variational Information Bottlenecks."""

__version__ = "0.1.0"


def _register_resolvers() -> None:
    """``${if_null:a,b}`` in conf/: ``b`` when ``a`` is null, else null (conf/dataset/ts.yaml: ``name`` is
    BasicMotions unless ``path`` is given). Registered on import of har_vib, before any config is resolved."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("if_null"):
        OmegaConf.register_new_resolver("if_null", lambda value, default: default if value is None else None)


_register_resolvers()
