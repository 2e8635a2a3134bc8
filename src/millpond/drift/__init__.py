"""Drift: per-feature statistics (equal to scipy), KPIs with bootstrap intervals and label-free estimates, the drift analysis of a window and the sweetviz comparison report."""
