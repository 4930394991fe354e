"""Aggregation of weak labels and agreement between observers. Pure numpy: no Django imports.

categorical (+ glad, mace, categorical_base): mv, Dawid-Skene, one-coin, GLAD, MACE — CATEGORICAL.md
masks: per-pixel majority and STAPLE; measurements: bias- and noise-aware numbers, points, frames — SPATIAL.md
reproducibility: kappas, alpha, Dice/Hausdorff, ICC, Bland-Altman — REPRODUCIBILITY.md
agreement_stats: the stage report's crowd ICC, Bland-Altman plot points, landmark distances — SPATIAL.md
calibration: P(consensus right) learned from experts' verdicts, expert routing by it — CALIBRATION.md
voting: one task's consensus in the pipeline; online: one item given learned worker confusion
__main__: the command line for crowd data collected elsewhere
"""
