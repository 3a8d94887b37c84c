import subprocess, six
print("six", six.__version__)
print(subprocess.run(["jq", "-n", "[1, 2] | add"], capture_output=True, text=True).stdout.strip())
