"""RQ workers: the analysis worker entry, analysis jobs, maintenance and the scheduler entry."""
