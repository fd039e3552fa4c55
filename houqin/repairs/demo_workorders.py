"""Demo data of the repairs app: workorders (imported by houqin/repairs/demo.py; steps register with @demo_step)."""
