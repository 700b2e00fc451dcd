"""The scheduler: what one round of jobs does, and the APScheduler adapter that repeats it."""
