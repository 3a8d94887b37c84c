from app import handlers

if __name__ == '__main__':
    print(handlers.route('/'))
