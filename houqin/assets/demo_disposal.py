"""Demo data of the assets app: disposal (imported by houqin/assets/demo.py; steps register with @demo_step)."""
