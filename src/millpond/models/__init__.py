"""Models: training and search, fit cost and latency, the ModelStore (skops versions, aliases, history, typed ModelMetadata), version comparison and the monitoring log."""
