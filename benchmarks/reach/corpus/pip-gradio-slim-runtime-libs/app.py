import gradio as gr

gr.Interface(lambda x: x, 'text', 'text').launch(server_name='0.0.0.0')
