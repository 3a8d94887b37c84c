import faiss
