"""Project settings: hooks and configuration loading."""

import warnings

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from cripto_platform.hooks import LakeRootHooks, RunMetadataHooks, RunSummaryHooks, WarehouseHooks

HOOKS = (RunMetadataHooks(), LakeRootHooks(), WarehouseHooks(), RunSummaryHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Lets conf/cloud/globals.yml read the bucket name (CRIPTO_S3_BUCKET) once; catalogs use ${globals:...}.
    "custom_resolvers": {"oc.env": oc.env},
}

# kedro's own use of a deprecated omegaconf call; not actionable for users of this project.
warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)
