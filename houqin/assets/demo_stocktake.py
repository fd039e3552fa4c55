"""Demo data of the assets app: stocktake (imported by houqin/assets/demo.py; steps register with @demo_step)."""
