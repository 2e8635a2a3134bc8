"""The demo: the embedded synthetic churn data and the multi-window demo cycle."""
