"""The leads API: the public submission endpoint and its form token (public.py), and the staff pipeline
(staff.py)."""
