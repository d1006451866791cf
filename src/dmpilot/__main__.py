from dmpilot.cli import run

run()
