"""Project settings: hooks and configuration loading."""

import warnings

from kedro.config import OmegaConfigLoader

from cripto_platform.hooks import LakeRootHooks, RunMetadataHooks, RunSummaryHooks, WarehouseHooks

HOOKS = (RunMetadataHooks(), LakeRootHooks(), WarehouseHooks(), RunSummaryHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
# ${oc.env:...} is read in credentials only (Kedro's default); the cloud bucket is named in conf/cloud/globals.yml.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}

# kedro's own use of a deprecated omegaconf call; not actionable for users of this project.
warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)
