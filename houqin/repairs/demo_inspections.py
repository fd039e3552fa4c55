"""Demo data of the repairs app: inspections (imported by houqin/repairs/demo.py; steps register with @demo_step)."""
