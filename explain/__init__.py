"""The pure analysis: training parameters and training, the SHAP engine, summaries, result rows and their
encoding. numpy, pandas and catboost only: nothing here touches Redis, RQ or HTTP, so every part is tested
and benchmarked in-process on small frames."""
