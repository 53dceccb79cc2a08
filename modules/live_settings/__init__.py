"""Live settings (django-constance, database backend) that the code reads: reading them cheaply, the maintenance
mode, and a record of every change with who made it."""
