from dmpilot.cli import app

app(prog_name="dmpilot")
