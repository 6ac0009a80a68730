"""The repayment model as code: features, training, evaluation, registry, scoring."""
