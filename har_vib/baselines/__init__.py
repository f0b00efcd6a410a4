"""Non-neural reference classifiers that show how hard a dataset is for any model."""
