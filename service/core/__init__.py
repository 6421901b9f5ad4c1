"""The shared core below the domains: what every collection is made of (``collection``), its
base schemas and list parameters, record keys and dates, the one public API that reads, writes
and checks records of any collection (``records``) and the routes made for each (``routes``).

The core imports no domain; the domains declare their collections with it, and
``service.collections.registry`` lists them at the top."""
