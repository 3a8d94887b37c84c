print('llm')
