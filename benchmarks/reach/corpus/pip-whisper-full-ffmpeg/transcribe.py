import whisper
print(whisper.available_models())
