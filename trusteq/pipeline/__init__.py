"""The stages that run models, one job per module.

plan (the validated variant graph) → keys (pure functions of declared identity) → train
(fine-tuning into checkpoint entries) → infer (outputs and producer entries, models built once per
process) → manifest (what compare reads). `study.Study` drives them for one process.
"""
