"""Administration across roles: ACL users and grants on every node (``acl/``), copying roles
between deployments (``transfer.py``), the roles of a database (``inventory.py``).

Operator work that the tools do not do for one role. May import the table (``acl`` grants what
the table's rows send) and everything below it; never a face.
"""
