from .run import run

run()
