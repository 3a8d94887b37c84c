from transformers import pipeline
print('loaded')
