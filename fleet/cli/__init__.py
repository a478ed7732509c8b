"""The operator CLIs, installed as entry points ([project.scripts]): shap-diagnose, shap-repair, shap-verify.
Each gathers facts, judges them, and prints (text or --json) in separate steps."""
