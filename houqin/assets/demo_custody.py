"""Demo data of the assets app: custody (imported by houqin/assets/demo.py; steps register with @demo_step)."""
