from config.config import config

globals().update(config.get_all_settings())
