import subprocess
print(subprocess.run(["jq", "-n", "[1, 2] | add"], capture_output=True, text=True).stdout.strip())
