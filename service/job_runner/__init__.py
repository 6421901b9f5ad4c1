"""What runs in a job's child process: ``child`` is the process a worker (``service.jobs``)
starts for each job, ``kinds`` what each kind of job does. Handlers call the same service
functions the API calls inline. The package sits above the features it runs, so the job queue
itself (``service.jobs``) imports none of them."""
