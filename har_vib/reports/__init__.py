"""Reports: plots and tables of runs and sweeps."""
