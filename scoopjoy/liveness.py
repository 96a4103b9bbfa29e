"""Is anyone working on a job? Probes of the two places that can say: a MariaDB named lock (held by a
live, a frozen or an unseen connection; scoopjoy.named_lock) and RQ (a job waiting in its queue, or
just started). They know nothing of runs: the Stock Sync Log decides from them whether its run is
alive, and the sync drops jobs no live run owns."""

import datetime
import time

from frappe.utils.background_jobs import get_job
from rq import Queue
from rq.job import JobStatus
from rq.utils import as_text

from scoopjoy import named_lock
from scoopjoy.scoopjoy.doctype.scoopjoy_settings.scoopjoy_settings import stale_after

# Seconds between RQ marking a job started and its worker taking the run's lock (fork, site init).
STARTUP_GRACE = 5
# Seconds a live worker of several queues takes from popping a job to marking it started.
IN_TRANSIT_GRACE = 3


def lock_state(name: str) -> str:
	"""free, live, unseen (held by a connection this site cannot see as its own), or frozen."""
	holder = named_lock.holder(name)
	if holder is None:
		return "free"
	idle = named_lock.holder_idle_for(holder)
	if idle is None:
		return "unseen"
	return "live" if idle < stale_after() else "frozen"


def rq_job_pending(job_id: str) -> bool:
	"""Waiting in RQ's queue, or started moments ago by a worker still taking the run's lock (without
	this, liveness flickered dead-then-alive while a batch started). A job started earlier counts only
	through its named lock: a killed worker's job stays "started" in RQ until RQ cleans up."""
	job = get_job(job_id)
	if not job:
		return False
	status = job.get_status()
	if status == JobStatus.QUEUED:
		return waiting_in_queue(job)
	return (
		status == JobStatus.STARTED
		and job.started_at is not None
		and utc_now() - as_utc(job.started_at) < datetime.timedelta(seconds=STARTUP_GRACE)
	)


def rq_job_in_flight(job_id: str) -> bool:
	"""RQ lists the job as queued or started (a job no lock guards, such as the report)."""
	job = get_job(job_id)
	return bool(job) and job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED)


def utc_now() -> datetime.datetime:
	return datetime.datetime.now(datetime.UTC)


def as_utc(moment: datetime.datetime) -> datetime.datetime:
	"""RQ's job times are UTC: naive in the RQ Frappe 15 pins, timezone-aware in Frappe 16's."""
	return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def waiting_in_queue(job) -> bool:
	"""Is a "queued" job really in its queue, or on its way to a work horse? A worker takes the job off
	the queue and only its work horse marks it started: a worker killed in between leaves the job
	"queued" in no queue, for ever (a worker of several queues keeps no intermediate list for RQ's
	cleanup to find). A worker of one queue parks the job in the queue's intermediate list meanwhile,
	which RQ's maintenance clears. A live worker of several queues marks it started within moments
	(fork and site set-up): the job counts as pending if it does within IN_TRANSIT_GRACE, which is what
	made a fan-out's liveness flicker dead-then-alive between two batches."""
	queue = Queue(job.origin, connection=job.connection)
	if queue.get_job_position(job.id) is not None:
		return True
	if any(
		as_text(parked) == job.id for parked in job.connection.lrange(queue.intermediate_queue_key, 0, -1)
	):
		return True
	deadline = time.monotonic() + IN_TRANSIT_GRACE
	while time.monotonic() < deadline:
		time.sleep(0.1)
		if job.get_status(refresh=True) != JobStatus.QUEUED:
			return job.get_status() == JobStatus.STARTED
	return False


def discard_job(job_id: str):
	"""Drop an RQ job that belongs to no live run, so `deduplicate=True` does not refuse the next one.
	RQ keeps a dead worker's job in its "started" registry until its own cleanup runs."""
	if job := get_job(job_id):
		job.delete()
