"""Data quality rules of the platform's key tables, on Kedro 1.7's catalog validation.

- ``schemas``: the rules (pandera checks with a name, a column and a severity) registered by catalog
  dataset name in ``RULES``; ``RULED_DATASETS`` lists the names.
- ``validator``: ``QualityValidator``, named by the catalog entries' ``validator:`` key; a failing
  ``error`` rule raises ``QualityRuleError`` (one paragraph: dataset, rule, column, check, failing
  rows and examples) and nothing is written; a failing ``warn`` rule is logged.
- ``results``: ``rule_results(dataset_name, data)`` and ``merge_rule_results(a, b)``, every rule's
  result for the profile, batch by batch (contract in ``results``' docstring).
"""

from cripto_platform.quality.results import merge_rule_results, rule_results
from cripto_platform.quality.schemas import RULED_DATASETS, RULES, SCHEMAS
from cripto_platform.quality.validator import QualityRuleError, QualityValidator

__all__ = [
    "RULED_DATASETS",
    "RULES",
    "SCHEMAS",
    "QualityRuleError",
    "QualityValidator",
    "merge_rule_results",
    "rule_results",
]
