"""Background work done once: thumbnails, scrub previews and the like go through one runner."""

from lvs.jobs.runner import (
    JobLocks,
    JobRunner,
    JobStats,
    PermanentJobError,
    RedisJobLocks,
    RedisLeader,
)

__all__ = ["JobLocks", "JobRunner", "JobStats", "PermanentJobError", "RedisJobLocks", "RedisLeader"]
